use clap::Parser;

fn main() {
    let cli = nimsforest_pkg::cli::Cli::parse();
    if let Err(error) = nimsforest_pkg::cli::run(cli) {
        eprintln!("error: {error}");
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            eprintln!("  caused by: {cause}");
            source = cause.source();
        }
        std::process::exit(error.exit_code());
    }
}
