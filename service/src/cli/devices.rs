//! `statecast devices`: what this build can compute on, and a numerical self-check.
use statecast_models::device::DeviceSpec;
use statecast_models::selfcheck;

#[derive(Debug, clap::Args)]
pub(crate) struct DevicesArgs {
    /// Run the self-check on this device (cpu, cuda, cuda:N) against the CPU reference.
    #[arg(long)]
    check: Option<DeviceSpec>,
    /// Largest acceptable max |device − cpu| / max |cpu| for the check to pass (GPU matmuls run
    /// in TF32, about 1e-3 relative).
    #[arg(long, default_value_t = 1e-2)]
    tolerance: f32,
}

pub(crate) fn run(args: DevicesArgs) -> anyhow::Result<()> {
    println!("compiled-in devices: {}", DeviceSpec::compiled_in().join(", "));
    let Some(spec) = args.check else { return Ok(()) };
    let device = spec.device()?;
    println!("self-check on {spec} ({device:?}) against cpu (flex):");
    let rows = selfcheck::run(&device);
    let failed = print_rows(&rows, args.tolerance);
    anyhow::ensure!(
        failed == 0,
        "{failed} of {} gating checks exceeded tolerance {}",
        rows.iter().filter(|r| r.gating).count(),
        args.tolerance
    );
    println!(
        "all {} gating checks passed",
        rows.iter().filter(|r| r.gating).count()
    );
    Ok(())
}

/// Prints check rows as a table; returns how many gating rows exceed `tolerance`.
pub(crate) fn print_rows(rows: &[selfcheck::CheckRow], tolerance: f32) -> usize {
    let width = rows.iter().map(|r| r.op.len()).max().unwrap_or(0).max(36);
    println!(
        "{:<width$} {:>12} {:>12} {:>12} {:>12}",
        "op", "max|diff|", "relative", "device ms", "cpu ms"
    );
    let mut failed = 0;
    for r in rows {
        let ok = r.rel_diff <= tolerance;
        failed += usize::from(r.gating && !ok);
        println!(
            "{:<width$} {:>12.3e} {:>12.3e} {:>12.3} {:>12.3} {}",
            r.op,
            r.max_abs_diff,
            r.rel_diff,
            r.device_ms,
            r.cpu_ms,
            match (r.gating, ok) {
                (false, _) => "(not gating)",
                (true, true) => "ok",
                (true, false) => "FAIL",
            }
        );
    }
    failed
}
