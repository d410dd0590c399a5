//! Generated code for the `statecast.v1` gRPC API (see `proto/statecast/v1/*.proto`).
//!
//! Messages, server traits and clients come from `tonic-prost-build`; the descriptor set is
//! exported for gRPC server reflection.
#![allow(missing_docs, unreachable_pub, clippy::wildcard_enum_match_arm)]

/// `statecast.v1` messages, clients (`*_client`) and servers (`*_server`).
pub mod v1 {
    tonic::include_proto!("statecast.v1");
}

/// Encoded `FileDescriptorSet` of every `statecast.v1` file, for `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("statecast_descriptor");
