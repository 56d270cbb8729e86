/**
 * The two namespaces of a store. An object's kind comes from the edge that references it,
 * never from sniffing its bytes: a data chunk that happens to be valid tree JSON is still a chunk.
 */
export type Namespace = 'chunks' | 'meta';
export type MetaType = 'file' | 'tree' | 'commit';
