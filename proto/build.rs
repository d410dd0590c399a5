//! Compiles `statecast/v1/*.proto` with protox (pure Rust, no system `protoc`) and writes the
//! encoded descriptor set used by gRPC server reflection.
use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut files: Vec<String> = std::fs::read_dir("statecast/v1")?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "proto"))
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    files.sort();
    let fds = protox::compile(&files, ["."])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("statecast_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;
    println!("cargo:rerun-if-changed=statecast");
    Ok(())
}
