//! Talking to image registries (the OCI distribution API) and keeping what they serve.
//!
//! This module is the only one that knows HTTP. Everything it hands out is plain data (manifests,
//! configs, descriptors) or a path to a blob in the local content store whose bytes were verified
//! against their digest before the blob was stored. See `docs/registry.md` for the design.
//!
//! - [`reference`](mod@reference): image references (`httpd:2-alpine`, `127.0.0.1:5000/demo@sha256:...`).
//! - [`manifest`]: media types and the JSON documents (manifest lists, OCI indexes, manifests, configs).
//! - [`auth`]: credentials from `~/.docker/config.json` and the Bearer-token challenge flow.
//! - [`client`]: the HTTP client: manifests, blob HEAD/GET with retries and resumable downloads, push.
//! - [`store`]: the local content store shared by every command.
//! - [`layout`]: a minimal OCI image layout reader/writer (until `src/oci.rs` lands).
//! - [`archive`]: `docker save` archives as an offline source.
//! - [`source`]: one interface over "online registry, read through the store" and the offline sources.
//! - [`pull`]: `retrace pull`.

pub mod archive;
pub mod auth;
pub mod client;
pub mod error;
pub mod layout;
pub mod manifest;
pub mod pull;
pub mod reference;
pub mod source;
pub mod store;

#[cfg(test)]
pub(crate) mod testserver;

pub use client::{Client, ClientOptions};
pub use error::RegistryError;
pub use manifest::{Descriptor, ImageConfig, Platform};
pub use reference::Reference;
pub use source::{ImageSource, Source};
pub use store::Store;

/// Opens the image a command-line argument names: `oci:DIR[:TAG]`, or a registry reference read
/// through the store (`store` or the default location), or from the store alone when `offline`.
pub fn open(
    text: &str,
    offline: bool,
    store: Option<std::path::PathBuf>,
) -> Result<(Source, Reference), RegistryError> {
    let store = store.map(Store::new).unwrap_or_else(Store::open_default);
    Source::open(text, offline, store, || Client::new(ClientOptions::from_environment()?))
}
