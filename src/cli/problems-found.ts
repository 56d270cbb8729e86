/** Thrown by a command that already printed its report (verify, fsck) and must exit 1. */
export class ProblemsFound extends Error {
  constructor() {
    super('problems found');
    this.name = 'ProblemsFound';
  }
}
