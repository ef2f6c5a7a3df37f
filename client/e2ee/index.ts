// End-to-end media encryption of a participant (MLS group + SFrame keys): see member.ts.
export {
  E2EE_EPOCH_BITS,
  E2eeMember,
  type DecryptFailure,
  type E2eeError,
  type E2eeIncident,
} from './member.ts';
