/** Width of the logical counter of a wire HLC: the upper 48 bits are Unix milliseconds. */
export const HLC_LOGICAL_BITS = 16n;

/**
 * Clock is the device's hybrid logical clock (as the Go SDK's). Its
 * timestamps follow the wall clock when it moves forward and count logically
 * when it stalls or goes back, so they never repeat or decrease; received
 * timestamps (the server's) push it forward. The client persists its last
 * value with every write, so it survives restarts and wall clocks set back.
 */
export class Clock {
  constructor(
    private last: bigint,
    private readonly now: () => number = Date.now,
  ) {}

  private physical(): bigint {
    return BigInt(Math.max(Math.floor(this.now()), 0)) << HLC_LOGICAL_BITS;
  }

  /** Returns a timestamp strictly greater than every one returned or received before. */
  tick(): bigint {
    const next = this.last + 1n;
    const phys = this.physical();
    this.last = next > phys ? next : phys;
    return this.last;
  }

  /** Merges a received timestamp into the clock and returns the new last value. */
  observe(remote: bigint): bigint {
    if (remote > this.last) this.last = remote;
    return this.last;
  }

  /** The newest timestamp the clock returned or received. */
  current(): bigint {
    return this.last;
  }
}

/** The Unix milliseconds of a wire HLC. */
export function hlcMillis(hlc: bigint): number {
  return Number(hlc >> HLC_LOGICAL_BITS);
}
