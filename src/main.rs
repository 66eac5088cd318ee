use clap::Parser;

fn main() {
    let cli = nimsforest_pkg::cli::Cli::parse();
    if let Err(error) = nimsforest_pkg::cli::run(cli) {
        let mut shown = error.to_string();
        eprintln!("error: {shown}");
        // The cause chain, minus causes the line above already spells out.
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !shown.contains(&text) {
                eprintln!("  caused by: {text}");
            }
            shown = text;
            source = cause.source();
        }
        std::process::exit(error.exit_code());
    }
}
