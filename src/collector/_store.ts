// The collector's storage: one SQLite database (a file or `:memory:`) with a
// row per document and a row per trace holding its current summary. Retention
// keeps at most `maxTraces` traces and `maxBytes` of document text, dropping
// the traces that arrived first.

import { openSqlite, type SqlDatabase, type SqlStatement } from "./_sqlite.ts";
import {
  assembleTrace,
  type GraphObservation,
  graphObservations,
  type StoredDocument,
  summarizeTrace,
  type TraceSummary,
} from "./_trace.ts";

/** A validated document ready to store. */
export interface IncomingDocument {
  traceId: string;
  id: string;
  inProgress: boolean;
  endTime: number | undefined;
  body: string;
}

/** What one `put` did. */
export interface PutResult {
  /** New or replacing documents written. */
  stored: number;
  /** Repeats of a stored final document: same id, same end time (kept once). */
  duplicates: number;
  /** In-progress versions arriving after the final one (ignored). */
  stale: number;
  /** Traces dropped to keep within the retention caps. */
  evicted: number;
  /** Indexes of documents refused because their trace is at `maxTraceBytes`. */
  refused: number[];
}

/** A trace row for listing. */
export interface TraceRow {
  traceId: string;
  summary: TraceSummary;
}

/**
 * How a time range selects traces: `TraceId` by the time in the trace id (X-Ray's
 * default), `Event` by any part of the trace falling in the range.
 */
export type TimeRange = "TraceId" | "Event";

/** The epoch seconds in a trace id (`1-5759e988-...`). */
function idTime(traceId: string): number {
  const seconds = parseInt(traceId.slice(2, 10), 16);
  return Number.isFinite(seconds) ? seconds : 0;
}

/** The store. */
export interface Store {
  put(documents: readonly IncomingDocument[]): PutResult;
  /** Summaries of traces starting in [start, end] (epoch seconds), newest first. */
  summaries(
    start: number,
    end: number,
    range: TimeRange,
  ): IterableIterator<TraceRow>;
  /** The stored documents of a trace (empty when unknown). */
  documents(traceId: string): StoredDocument[];
  /** The service-graph calls of the traces in range, newest first, at most `limit` traces. */
  graphs(
    start: number,
    end: number,
    range: TimeRange,
    limit: number,
  ): GraphObservation[][];
  /** The service-graph calls of one trace (`undefined` when unknown). */
  graphOf(traceId: string): GraphObservation[] | undefined;
  counts(): { traces: number; documents: number; bytes: number };
  close(): void;
}

/** The table layout's version (SQLite `user_version`). */
const STORE_VERSION = 2;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS traces (
  trace_id TEXT PRIMARY KEY,
  seq INTEGER NOT NULL,
  start_time REAL NOT NULL,
  end_time REAL NOT NULL,
  id_time REAL NOT NULL,
  bytes INTEGER NOT NULL,
  documents INTEGER NOT NULL,
  revision INTEGER NOT NULL,
  summary TEXT NOT NULL,
  graph TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS traces_seq ON traces(seq);
CREATE INDEX IF NOT EXISTS traces_start ON traces(start_time);
CREATE INDEX IF NOT EXISTS traces_id_time ON traces(id_time);
CREATE TABLE IF NOT EXISTS documents (
  trace_id TEXT NOT NULL,
  id TEXT NOT NULL,
  in_progress INTEGER NOT NULL,
  end_time REAL,
  bytes INTEGER NOT NULL,
  body TEXT NOT NULL,
  PRIMARY KEY (trace_id, id)
);
`;

/** Options for {@linkcode openStore}. */
export interface StoreOptions {
  /** A database file path, or `:memory:`. */
  path: string;
  maxTraces: number;
  maxBytes: number;
  /** One trace holds at most this much document text; more is refused. */
  maxTraceBytes: number;
}

/** Opens the store, creating its tables when missing. */
export async function openStore(options: StoreOptions): Promise<Store> {
  const db: SqlDatabase = await openSqlite(options.path);
  if (options.path !== ":memory:") {
    try {
      db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");
    } catch {
      // Not every file system supports WAL; the default journal works too.
    }
  }
  // The store is a development cache: a file from another layout version is
  // started afresh rather than migrated.
  const version = Number(
    db.prepare("PRAGMA user_version").get()?.user_version ?? 0,
  );
  if (version !== STORE_VERSION) {
    db.exec("DROP TABLE IF EXISTS traces; DROP TABLE IF EXISTS documents;");
    db.exec(`PRAGMA user_version = ${STORE_VERSION}`);
  }
  db.exec(SCHEMA);
  const q = (sql: string): SqlStatement => db.prepare(sql);
  const getDoc = q(
    "SELECT in_progress, end_time, body FROM documents WHERE trace_id = ? AND id = ?",
  );
  const upsertDoc = q(
    "INSERT OR REPLACE INTO documents (trace_id, id, in_progress, end_time, bytes, body) VALUES (?, ?, ?, ?, ?, ?)",
  );
  const docsOf = q(
    "SELECT id, body FROM documents WHERE trace_id = ? ORDER BY rowid",
  );
  const getTrace = q(
    "SELECT seq, revision, bytes, documents FROM traces WHERE trace_id = ?",
  );
  const upsertTrace = q(
    "INSERT OR REPLACE INTO traces (trace_id, seq, start_time, end_time, id_time, bytes, documents, revision, summary, graph) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
  );
  const oldest = q("SELECT trace_id FROM traces ORDER BY seq LIMIT ?");
  const deleteTrace = q("DELETE FROM traces WHERE trace_id = ?");
  const deleteDocs = q("DELETE FROM documents WHERE trace_id = ?");
  const WHERE = {
    TraceId: "id_time >= ? AND id_time <= ?",
    // Any part of the trace in [start, end]: it starts before the end and
    // ends after the start.
    Event: "end_time >= ? AND start_time <= ?",
  };
  const inRange = {
    TraceId: q(
      `SELECT trace_id, summary FROM traces WHERE ${WHERE.TraceId} ORDER BY start_time DESC, seq DESC LIMIT ? OFFSET ?`,
    ),
    Event: q(
      `SELECT trace_id, summary FROM traces WHERE ${WHERE.Event} ORDER BY start_time DESC, seq DESC LIMIT ? OFFSET ?`,
    ),
  };
  const graphsInRange = {
    TraceId: q(
      `SELECT graph FROM traces WHERE ${WHERE.TraceId} ORDER BY start_time DESC LIMIT ?`,
    ),
    Event: q(
      `SELECT graph FROM traces WHERE ${WHERE.Event} ORDER BY start_time DESC LIMIT ?`,
    ),
  };
  const graphOf = q("SELECT graph FROM traces WHERE trace_id = ?");
  // Parsed summaries, kept beside the rows (bounded by maxTraces).
  const summaryCache = new Map<string, TraceSummary>();
  const totals = db.prepare(
    "SELECT COUNT(*) AS traces, COALESCE(SUM(documents), 0) AS documents, COALESCE(SUM(bytes), 0) AS bytes FROM traces",
  ).get()!;
  let traceCount = Number(totals.traces);
  let documentCount = Number(totals.documents);
  let byteCount = Number(totals.bytes);
  let seq = Number(
    db.prepare("SELECT COALESCE(MAX(seq), 0) AS seq FROM traces").get()!.seq,
  );

  function refresh(traceId: string): void {
    const before = getTrace.get(traceId);
    const rows = docsOf.all(traceId) as unknown as StoredDocument[];
    const revision = before ? Number(before.revision) + 1 : 1;
    const assembled = assembleTrace(traceId, rows);
    const summary = summarizeTrace(assembled, revision);
    let bytes = 0;
    for (const row of rows) bytes += row.body.length;
    const n = rows.length;
    if (before) {
      byteCount -= Number(before.bytes);
      documentCount -= Number(before.documents);
    } else {
      traceCount++;
    }
    summaryCache.set(traceId, summary);
    byteCount += bytes;
    documentCount += n;
    upsertTrace.run(
      traceId,
      before ? Number(before.seq) : ++seq,
      summary.StartTime,
      summary.StartTime + (summary.Duration ?? 0),
      idTime(traceId),
      bytes,
      n,
      revision,
      JSON.stringify(summary),
      JSON.stringify(graphObservations(assembled)),
    );
  }

  function evict(): number {
    let evicted = 0;
    while (
      traceCount > 0 &&
      (traceCount > options.maxTraces || byteCount > options.maxBytes)
    ) {
      const over = Math.max(1, traceCount - options.maxTraces);
      const victims = oldest.all(Math.min(over, 500));
      if (victims.length === 0) break;
      for (const v of victims) {
        const id = String(v.trace_id);
        const row = getTrace.get(id);
        summaryCache.delete(id);
        if (row) {
          byteCount -= Number(row.bytes);
          documentCount -= Number(row.documents);
          traceCount--;
        }
        deleteDocs.run(id);
        deleteTrace.run(id);
        evicted++;
        if (
          traceCount <= options.maxTraces && byteCount <= options.maxBytes
        ) break;
      }
    }
    return evicted;
  }

  return {
    put(documents: readonly IncomingDocument[]): PutResult {
      const result: PutResult = {
        stored: 0,
        duplicates: 0,
        stale: 0,
        evicted: 0,
        refused: [],
      };
      if (documents.length === 0) return result;
      const touched = new Set<string>();
      const traceBytes = new Map<string, number>();
      db.exec("BEGIN");
      try {
        for (let i = 0; i < documents.length; i++) {
          const doc = documents[i];
          const existing = getDoc.get(doc.traceId, doc.id);
          if (existing && Number(existing.in_progress) === 0) {
            if (doc.inProgress) {
              result.stale++;
              continue;
            }
            // The same final document again (same id, same end): kept once.
            if (
              existing.body === doc.body ||
              (doc.endTime !== undefined &&
                Number(existing.end_time) === doc.endTime)
            ) {
              result.duplicates++;
              continue;
            }
          }
          let bytes = traceBytes.get(doc.traceId);
          if (bytes === undefined) {
            bytes = Number(getTrace.get(doc.traceId)?.bytes ?? 0);
          }
          bytes += doc.body.length -
            (existing ? String(existing.body).length : 0);
          if (bytes > options.maxTraceBytes) {
            result.refused.push(i);
            continue;
          }
          traceBytes.set(doc.traceId, bytes);
          upsertDoc.run(
            doc.traceId,
            doc.id,
            doc.inProgress ? 1 : 0,
            doc.endTime ?? null,
            doc.body.length,
            doc.body,
          );
          touched.add(doc.traceId);
          result.stored++;
        }
        for (const traceId of touched) refresh(traceId);
        result.evicted = evict();
        db.exec("COMMIT");
      } catch (e) {
        try {
          db.exec("ROLLBACK");
        } catch {
          // Nothing to roll back.
        }
        throw e;
      }
      return result;
    },
    *summaries(
      start: number,
      end: number,
      range: TimeRange,
    ): IterableIterator<TraceRow> {
      // Read in chunks: no statement stays open across yields while writes
      // happen, and a first page reads only what it needs.
      for (let offset = 0, chunk = 200;; offset += chunk, chunk = 2000) {
        const rows = inRange[range].all(start, end, chunk, offset);
        for (const row of rows) {
          const traceId = String(row.trace_id);
          let summary = summaryCache.get(traceId);
          if (!summary) {
            summary = JSON.parse(String(row.summary)) as TraceSummary;
            summaryCache.set(traceId, summary);
          }
          yield { traceId, summary };
        }
        if (rows.length < chunk) return;
      }
    },
    documents(traceId: string): StoredDocument[] {
      return docsOf.all(traceId).map((r) => ({
        id: String(r.id),
        body: String(r.body),
      }));
    },
    graphs(
      start: number,
      end: number,
      range: TimeRange,
      limit: number,
    ): GraphObservation[][] {
      return graphsInRange[range].all(start, end, limit).map((r) =>
        JSON.parse(String(r.graph))
      );
    },
    graphOf(traceId: string): GraphObservation[] | undefined {
      const row = graphOf.get(traceId);
      return row ? JSON.parse(String(row.graph)) : undefined;
    },
    counts() {
      return { traces: traceCount, documents: documentCount, bytes: byteCount };
    },
    close(): void {
      db.close();
    },
  };
}
