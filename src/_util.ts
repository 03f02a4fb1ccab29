// Small helpers several modules share (private to the package).

/**
 * Sets `target[key]` as an own, enumerable data property: a `"__proto__"` key
 * stays a key instead of replacing the prototype.
 */
export function setKey(
  target: Record<string, unknown>,
  key: string,
  value: unknown,
): void {
  // Plain assignment makes the same own data property, many times faster
  // than defineProperty. Keys Object.prototype has ("__proto__" is a setter
  // there; a frozen prototype would make assignment throw) take
  // defineProperty, so a "__proto__" key stays an own data property.
  if (key in Object.prototype) {
    Object.defineProperty(target, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else {
    target[key] = value;
  }
}

/** The UTF-8 length of a string without encoding it (a lone surrogate counts 3, as U+FFFD). */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) {
      bytes += 1;
    } else if (
      c >= 0xd800 && c < 0xdc00 && i + 1 < text.length &&
      (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00
    ) {
      bytes += 2;
      i++;
    } else {
      bytes += 2;
    }
  }
  return bytes;
}
