// Public API of placement: the consistent hash ring and the Meeting Controller registry.
export { murmur3 } from './hash.ts';
export { VIRTUAL_NODES_PER_NODE, buildRing, firstAccepted, ringOwner } from './ring.ts';
export type { HashRing } from './ring.ts';
export {
  MAX_MEETINGS_PER_CONTROLLER,
  DEFAULT_HEARTBEAT_TIMEOUT_MS,
  createRegistry,
  handleRegistryEvent,
  registryDeadline,
  isEligible,
  chooseController,
} from './registry.ts';
export type {
  ControllerRegistration,
  ControllerRegistry,
  RegistryEvent,
  RegistryEffect,
  RegistryUpdate,
  PlacementError,
  WebTransportEndpoint,
} from './registry.ts';
