// The Media Handler client library (browser and Node): see client.ts.
export {
  MEDIA_PATH,
  MEDIA_SUBPROTOCOL,
  MediaClient,
  StreamPublisher,
  helloMessage,
  sframePayload,
  type ConnectOptions,
  type ConnectOutcome,
  type DatagramLink,
  type DatagramSink,
  type WebSocketConstructor,
  type WebSocketLike,
} from './client.ts';
