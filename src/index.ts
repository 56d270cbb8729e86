/**
 * The public library API: everything the CLI does, a Node program can do.
 *   import { init, add, commit, checkout } from 'mlstore';
 */
export { MlstoreError, isMlstoreError, type ErrorCode } from './errors.js';
export { defaultEnv, type Env, type Logger, type ProgressEvent } from './env.js';
export { Repository } from './repository/repository.js';
export { init, type InitOptions, type InitResult } from './api/init.js';
export { add, type AddOptions, type AddResult } from './api/add.js';
export { status, type StatusOptions } from './api/status.js';
export { commit, type CommitOptions, type CommitResult, type CommitSigner } from './api/commit.js';
export { log, type LogOptions, type LogEntry } from './api/log.js';
export { show, type ShowOptions, type ShowResult } from './api/show.js';
export { diff, type DiffOptions, type DiffResult } from './api/diff.js';
export { branch, tag, type BranchOptions, type TagOptions, type RefInfo } from './api/branch.js';
export { checkout, type CheckoutOptions, type CheckoutSummary } from './api/checkout.js';
export { remoteAdd, remoteList, remoteRemove, type RemoteAddOptions, type RemoteRemoveOptions, type RemoteInfo } from './api/remote.js';
export { push, type PushOptions, type PushResult, type RefPushResult, type RefPushStatus } from './api/push.js';
export { fetch, fetchCommit, type FetchOptions, type FetchResult, type FetchedRef, type FetchCommitOptions, type FetchCommitResult } from './api/fetch.js';
export { pull, type PullOptions, type PullResult } from './api/pull.js';
export type { UploadResult } from './repository/transfer-upload.js';
export type { DownloadResult } from './repository/transfer-download.js';
export { fsck, type FsckOptions } from './api/fsck.js';
export { PROBLEM_CODES, fsckStatus, type FsckReport, type FsckCounts, type Problem, type ProblemCode, type Affected, type Repair, type Severity } from './check/index.js';
export { keyGenerate, keyList, keyExport, keyTrust, keyUntrust, type KeyGenerateOptions, type KeyTrustOptions } from './api/key.js';
export { sign, commitSigners, type SignOptions, type SignResult, type KeyChoice } from './api/sign.js';
export { verify, type VerifyOptions, type VerifyResult } from './api/verify.js';
export { lineage, type LineageOptions } from './api/lineage.js';
export { attest, type AttestOptions, type AttestResult } from './api/attest.js';
export * as trust from './trust/index.js';
export type { Commit, Person, CodeState, Environment, Input } from './model/commit.js';
export type { Tree, TreeEntry, FileEntry } from './model/tree.js';
export type { WorkspaceStatus, FileChange } from './workspace/status.js';
