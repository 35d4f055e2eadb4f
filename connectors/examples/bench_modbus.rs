//! `cargo run --release -p millwright-connectors --example bench_modbus` runs the same code as
//! `millwright bench modbus`, without the platform crate.

use clap::Parser;
use millwright_connectors::bench::{bench_modbus, BenchModbusArgs};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: BenchModbusArgs,
}

#[tokio::main]
async fn main() -> millwright_connectors::Result<()> {
    bench_modbus(Cli::parse().args).await
}
