/**
 * Hard bounds on everything read back from a store. A hostile remote can serve a huge or deeply
 * nested object; these limits turn that into LIMIT_EXCEEDED/CORRUPT_OBJECT instead of an OOM.
 */
export const LIMITS = {
  /** Largest metadata object (tree, manifest, commit) accepted, in bytes. */
  maxMetaBytes: 64 * 1024 * 1024,
  /** Largest chunk accepted, in bytes (the chunker's max may not exceed it). */
  maxChunkBytes: 64 * 1024 * 1024,
  /** Most entries in one tree object. */
  maxTreeEntries: 1_000_000,
  /** Deepest directory nesting walked. */
  maxTreeDepth: 256,
  /** Longest name of a file or directory, in UTF-8 bytes. */
  maxNameBytes: 255,
  /** Most chunks in one file manifest (4 GiB files of 64 KiB chunks fit easily at 1 MiB avg). */
  maxManifestChunks: 4_000_000,
  /** Longest commit message, in characters. */
  maxMessageChars: 64 * 1024,
  /** Most parents / inputs of one commit. */
  maxParents: 64,
  maxInputs: 1024,
} as const;
