use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Kubernetes operator for Memorystore for Redis Cluster and ElastiCache.
#[derive(Parser)]
#[command(name = "cache-operator", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions as multi-document YAML.
    Crds,
    /// Check manifests (files or folders, multi-document YAML) against the rules of our kinds.
    /// Exit 0: all valid; 1: an object is invalid; 2: a file cannot be read or parsed.
    Validate {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Run the controllers.
    #[command(args_override_self = true)]
    Run(Box<cache_operator::run::RunOptions>),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Crds => match cache_operator::commands::crds::render() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Validate { paths } => {
            let report = cache_operator::commands::validate::run(&paths);
            for line in report.unreadable.iter().chain(&report.problems) {
                println!("{line}");
            }
            eprintln!("{}", report.summary());
            ExitCode::from(report.exit_code() as u8)
        }
        Command::Run(opts) => {
            let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
            match runtime.block_on(cache_operator::run::run(*opts)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
