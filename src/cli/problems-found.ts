/**
 * Thrown by a command that already printed its report (verify, fsck). Exit 1 when the data is
 * bad; exit 3 when nothing bad was found but some of it could not be checked (unreadable).
 */
export class ProblemsFound extends Error {
  constructor(readonly exitCode: 1 | 3 = 1) {
    super('problems found');
    this.name = 'ProblemsFound';
  }
}
