import * as grpc from '@grpc/grpc-js';
import {
  MediaHandlerServiceClient,
  type ApplyRouteCommandRequest,
  type ApplyRouteCommandResponse,
  type EndMeetingRequest,
  type EndMeetingResponse,
} from '../generated/darktower/mh/v1/route.ts';

/** A promise-based client of a Media Handler's route API, as a Meeting Controller uses it. */
export interface MhClient {
  applyRouteCommand(request: ApplyRouteCommandRequest): Promise<ApplyRouteCommandResponse>;
  endMeeting(request: EndMeetingRequest): Promise<EndMeetingResponse>;
  close(): void;
}

/** Connects to a handler's route API at `host:port` (plaintext) with a Bearer service token (a fixed one, or
 * what `token` returns at each call). */
export function connectMh(
  address: string,
  token: string | undefined | (() => string | undefined),
): MhClient {
  const client = new MediaHandlerServiceClient(address, grpc.credentials.createInsecure());
  const metadata = () => {
    const md = new grpc.Metadata();
    const bearer = typeof token === 'function' ? token() : token;
    if (bearer !== undefined) md.set('authorization', `Bearer ${bearer}`);
    return md;
  };
  return {
    applyRouteCommand: (request) =>
      new Promise((resolve, reject) =>
        client.applyRouteCommand(request, metadata(), (error, response) =>
          error ? reject(error) : resolve(response),
        ),
      ),
    endMeeting: (request) =>
      new Promise((resolve, reject) =>
        client.endMeeting(request, metadata(), (error, response) =>
          error ? reject(error) : resolve(response),
        ),
      ),
    close: () => client.close(),
  };
}
