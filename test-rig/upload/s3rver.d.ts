// s3rver ships no types; the part the test store uses.
declare module 's3rver' {
  export default class S3rver {
    constructor(o: { port?: number; address?: string; silent?: boolean; directory: string; configureBuckets?: { name: string; configs: unknown[] }[] });
    run(): Promise<unknown>;
    close(): Promise<void>;
  }
}
