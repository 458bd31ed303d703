/**
 * Where a server listens unless told otherwise: in a module of their own, so
 * that the command line can show them in its help without loading the server.
 */
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 7377;
