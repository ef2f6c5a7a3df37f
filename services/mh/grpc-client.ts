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

/** Connects to a handler's route API at `host:port` (plaintext) with a Bearer service token. */
export function connectMh(address: string, token: string | undefined): MhClient {
  const client = new MediaHandlerServiceClient(address, grpc.credentials.createInsecure());
  const metadata = () => {
    const md = new grpc.Metadata();
    if (token !== undefined) md.set('authorization', `Bearer ${token}`);
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
