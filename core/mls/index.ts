// The public API of core/mls: the Meeting Controller as MLS delivery service.
export * from './delivery.ts';
