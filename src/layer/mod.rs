//! The layer writer: turns a list of entries into the exact tar bytes a given Docker release
//! wrote, then gzip-compresses them exactly as Go's compress/gzip does.
//!
//! The writer is pure: the bytes depend only on the entries and the profile, never on the host,
//! the clock or the file system. Reading a diff directory into entries is a separate step (`walk`).
//!
//! - [`Profile`]: the Docker release group (`docker-1.10` .. `docker-20.10`, docs/profiles.md), chosen by
//!   name or from a document's `Docker Version`; 20.10 carries the host's uid/gid names.
//! - [`read_tree`]: a graphdriver diff directory -> entries, in pkg/archive's walk order.
//! - [`write_tar`] / [`write_tar_digest`]: entries -> the release's tar bytes (and diff_id).
//! - [`write_blob`]: entries -> gzip blob, digest, diff_id and size in one pass.
//! - [`name::text`]: an entry's byte name as one line of text for messages and reports.
//! - [`context_file_hash`]: the `COPY file:<hex>` source hash of a build-context file.
//!
//! How each claim is proven: golden headers from docs/layer-bytes.md (unit tests), Go 1.19's
//! archive/tar on random entries (`needs_go_`), a Docker 20.10 daemon's diff_ids, pushed blobs and
//! `COPY file:` hashes (`needs_docker_`, `needs_registry_`), and published 17.06 seed layers.

pub mod entry;
pub mod filehash;
pub mod name;
pub mod profile;
pub mod tar;
pub mod walk;
pub mod whiteout;

pub use entry::{Entry, EntryKind};
pub use filehash::{context_file_hash, context_file_hash_with, context_mode_for, hash_file_on_disk, CONTEXT_MODES};
pub use profile::{Profile, ProfileError, Release};
pub use tar::{write_blob, write_tar, write_tar_digest, BlobInfo, HeaderError, TarEncodeError, TarInfo};
pub use walk::{read_tree, unshare_whiteouts, LayerError, WalkOptions, WhiteoutFormat};
