// OTLP/JSON trace data (the objects _mapping.ts builds) → the protobuf
// encoding of `ExportTraceServiceRequest` (opentelemetry-proto, field numbers
// from opentelemetry/proto/{collector/trace,trace,common,resource}/v1). Only
// the fields the mapping writes are encoded; default values are left out, as
// protobuf encoders do.
import type {
  OtlpAttribute,
  OtlpEvent,
  OtlpResourceSpans,
  OtlpSpan,
  OtlpTraceRequest,
  OtlpValue,
} from "./_mapping.ts";

const encoder = new TextEncoder();

/** A growing byte buffer with the protobuf wire primitives. */
class Writer {
  bytes: number[] = [];

  varint(value: bigint | number): void {
    let v = BigInt.asUintN(64, BigInt(value));
    while (v > 0x7fn) {
      this.bytes.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.bytes.push(Number(v));
  }

  tag(field: number, wireType: number): void {
    this.varint((field << 3) | wireType);
  }

  /** Length-delimited: bytes, strings and embedded messages. */
  bytesField(field: number, data: ArrayLike<number>): void {
    this.tag(field, 2);
    this.varint(data.length);
    for (let i = 0; i < data.length; i++) this.bytes.push(data[i]);
  }

  string(field: number, value: string | undefined): void {
    if (value) this.bytesField(field, encoder.encode(value));
  }

  message<T>(field: number, value: T, write: (w: Writer, v: T) => void): void {
    const inner = new Writer();
    write(inner, value);
    this.bytesField(field, inner.bytes);
  }

  /** A varint field (int32, enum, bool), left out when zero. */
  number(field: number, value: number | bigint | boolean | undefined): void {
    if (value) {
      this.tag(field, 0);
      this.varint(typeof value === "boolean" ? 1 : value);
    }
  }

  /** fixed64 from a decimal string (nanoseconds). */
  fixed64(field: number, value: string): void {
    let v = BigInt(value);
    if (!v) return;
    this.tag(field, 1);
    for (let i = 0; i < 8; i++) {
      this.bytes.push(Number(v & 0xffn));
      v >>= 8n;
    }
  }

  fixed32(field: number, value: number): void {
    if (!value) return;
    this.tag(field, 5);
    for (let i = 0; i < 4; i++) this.bytes.push((value >>> (8 * i)) & 0xff);
  }

  double(field: number, value: number): void {
    this.tag(field, 1);
    const view = new DataView(new ArrayBuffer(8));
    view.setFloat64(0, value, true);
    for (let i = 0; i < 8; i++) this.bytes.push(view.getUint8(i));
  }

  hex(field: number, value: string | undefined): void {
    if (!value) return;
    const out: number[] = [];
    for (let i = 0; i < value.length; i += 2) {
      out.push(parseInt(value.slice(i, i + 2), 16));
    }
    this.bytesField(field, out);
  }
}

function anyValue(w: Writer, value: OtlpValue): void {
  // A oneof: the chosen field is written even when it holds its default.
  if ("stringValue" in value) {
    w.bytesField(1, encoder.encode(value.stringValue));
  } else if ("boolValue" in value) {
    w.tag(2, 0);
    w.varint(value.boolValue ? 1 : 0);
  } else if ("intValue" in value) {
    w.tag(3, 0);
    w.varint(BigInt(value.intValue));
  } else if ("doubleValue" in value) w.double(4, value.doubleValue);
  else {
    w.message(5, value.arrayValue.values, (a, values) => {
      for (const v of values) a.message(1, v, anyValue);
    });
  }
}

function keyValue(w: Writer, attribute: OtlpAttribute): void {
  w.string(1, attribute.key);
  w.message(2, attribute.value, anyValue);
}

function event(w: Writer, e: OtlpEvent): void {
  w.fixed64(1, e.timeUnixNano);
  w.string(2, e.name);
  for (const a of e.attributes) w.message(3, a, keyValue);
}

function span(w: Writer, s: OtlpSpan): void {
  w.hex(1, s.traceId);
  w.hex(2, s.spanId);
  w.hex(4, s.parentSpanId);
  w.string(5, s.name);
  w.number(6, s.kind);
  w.fixed64(7, s.startTimeUnixNano);
  w.fixed64(8, s.endTimeUnixNano);
  for (const a of s.attributes) w.message(9, a, keyValue);
  for (const e of s.events) w.message(11, e, event);
  w.message(15, s.status, (st, status) => {
    st.string(2, status.message);
    st.number(3, status.code);
  });
  w.fixed32(16, s.flags);
}

function resourceSpans(w: Writer, rs: OtlpResourceSpans): void {
  w.message(1, rs.resource.attributes, (r, attributes) => {
    for (const a of attributes) r.message(1, a, keyValue);
  });
  for (const ss of rs.scopeSpans) {
    w.message(2, ss, (s, scopeSpans) => {
      s.message(1, scopeSpans.scope, (sc, scope) => {
        sc.string(1, scope.name);
        sc.string(2, scope.version);
      });
      for (const one of scopeSpans.spans) s.message(2, one, span);
    });
  }
}

/** The protobuf bytes of an `ExportTraceServiceRequest`. */
export function encodeTraceRequest(
  request: OtlpTraceRequest,
): Uint8Array<ArrayBuffer> {
  const w = new Writer();
  for (const rs of request.resourceSpans) w.message(1, rs, resourceSpans);
  return new Uint8Array(w.bytes);
}
