export * from './limits.js';
export * from './name.js';
export * from './object-kind.js';
export * from './file-manifest.js';
export * from './tree.js';
export * from './commit.js';
export * from './ref-name.js';
