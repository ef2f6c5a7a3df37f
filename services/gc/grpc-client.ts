import * as grpc from '@grpc/grpc-js';
import {
  GlobalControllerServiceClient,
  type McHeartbeatRequest,
  type McHeartbeatResponse,
  type RegisterMcRequest,
  type RegisterMcResponse,
} from '../generated/darktower/gc/v1/gc.ts';

/** A registration; `webtransport` may be left out (none). */
export type RegisterMcInput = Omit<RegisterMcRequest, 'webtransport'> &
  Partial<Pick<RegisterMcRequest, 'webtransport'>>;

/** A promise-based client of GC's gRPC API, as a Meeting Controller uses it. */
export interface GcClient {
  registerMc(request: RegisterMcInput): Promise<RegisterMcResponse>;
  /** `ended_meetings` may be left out (none ended). */
  mcHeartbeat(
    request: Omit<McHeartbeatRequest, 'endedMeetings'> & Partial<McHeartbeatRequest>,
  ): Promise<McHeartbeatResponse>;
  close(): void;
}

/** Connects to GC at `host:port` (plaintext), sending `token` (or what it returns at each call) as a Bearer service token. */
export function connectGc(
  address: string,
  token: string | undefined | (() => string | undefined),
): GcClient {
  const client = new GlobalControllerServiceClient(address, grpc.credentials.createInsecure());
  const metadata = () => {
    const md = new grpc.Metadata();
    const bearer = typeof token === 'function' ? token() : token;
    if (bearer !== undefined) md.set('authorization', `Bearer ${bearer}`);
    return md;
  };
  return {
    registerMc: (request) =>
      new Promise((resolve, reject) =>
        client.registerMc(
          { ...request, webtransport: request.webtransport ?? [] },
          metadata(),
          (error, response) => (error ? reject(error) : resolve(response)),
        ),
      ),
    mcHeartbeat: (request) =>
      new Promise((resolve, reject) =>
        client.mcHeartbeat({ endedMeetings: [], ...request }, metadata(), (error, response) =>
          error ? reject(error) : resolve(response),
        ),
      ),
    close: () => client.close(),
  };
}
