// The worker's log: warnings and errors to stderr by default; pass your own (pino, console, ...).
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export const consoleLogger: Logger = {
  info: (m) => { if (process.env.BROKER_CLIENT_LOG === "info") console.error(`[broker-client] ${m}`); },
  warn: (m) => console.error(`[broker-client] warning: ${m}`),
  error: (m) => console.error(`[broker-client] error: ${m}`),
};
