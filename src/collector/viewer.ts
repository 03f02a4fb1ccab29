// Placeholder until the viewer page lands: the collector serves this at `/`.

/** The viewer page (HTML with its scripts inline). */
export const viewerPage = "<!doctype html><title>xray-edge</title>";
