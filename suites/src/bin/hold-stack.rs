//! Test helper: boots a stack through the harness, prints `READY <project>`, then waits to
//! be signalled. The teardown suite sends it SIGTERM or SIGKILL and checks what is left.
//!
//! Usage: `hold-stack STACK_DIR NAME`.

use std::io::Write as _;

use harness::boot::stack::{Stack, StackConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(stack), Some(name)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: hold-stack STACK_DIR NAME");
    };
    let s = Stack::boot(StackConfig::new(stack).with_name(&name)).await?;
    println!("READY {}", s.project_name());
    std::io::stdout().flush()?;
    // Hold the stack until a signal arrives; the harness's handler does the cleanup.
    tokio::time::sleep(std::time::Duration::from_secs(600)).await;
    Ok(())
}
