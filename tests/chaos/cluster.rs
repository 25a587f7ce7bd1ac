//! The cluster faults: `scripts/stack` verbs run against the chaos runner's own stack (its
//! `STACK_DIR` and ports come from the environment `scripts/chaos` sets). Each call waits for
//! the verb to finish and reports a failure as an `Err` sentence, never a panic, so that a
//! fault that could not be injected is recorded instead of ending the run.

use std::process::Command;

/// Runs `scripts/stack <args>` (blocking, off the async executor).
pub async fn stack(args: &[&str]) -> Result<(), String> {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/stack");
    tokio::task::spawn_blocking(move || {
        let out = Command::new(script)
            .args(&args)
            .output()
            .map_err(|e| format!("running scripts/stack {args:?}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "scripts/stack {args:?} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    })
    .await
    .map_err(|e| format!("stack task: {e}"))?
}

/// How many brokers the stack runs (`scripts/stack up --brokers N` wrote it down).
pub fn brokers() -> u32 {
    std::env::var("STACK_DIR")
        .ok()
        .and_then(|dir| std::fs::read_to_string(format!("{dir}/brokers")).ok())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(1)
}
