/** A Logger for tests that records every line with its level (`info <message>`). */
import type { Logger } from '../../nodes/lib/types';

export class LogCapture implements Logger {
  readonly lines: string[] = [];
  debug(m: string): void {
    this.lines.push(`debug ${m}`);
  }
  info(m: string): void {
    this.lines.push(`info ${m}`);
  }
  warn(m: string): void {
    this.lines.push(`warn ${m}`);
  }
  error(m: string): void {
    this.lines.push(`error ${m}`);
  }
  text(): string {
    return this.lines.join('\n');
  }
}
