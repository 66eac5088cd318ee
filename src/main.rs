use clap::Parser;

/// One line of an error: control characters (a newline or an escape sequence in a path or
/// a value) are shown escaped, so that an error is exactly its lines and cannot rewrite the
/// terminal.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| match c.is_control() {
            true => c.escape_default().to_string(),
            false => c.to_string(),
        })
        .collect()
}

fn main() {
    let cli = nimsforest_pkg::cli::Cli::parse();
    if let Err(error) = nimsforest_pkg::cli::run(cli) {
        let mut shown = error.to_string();
        // Empty: the command reported on stdout already.
        if !shown.is_empty() {
            eprintln!("error: {}", one_line(&shown));
        }
        // The cause chain, minus causes the line above already spells out.
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !shown.contains(&text) {
                eprintln!("  caused by: {}", one_line(&text));
            }
            shown = text;
            source = cause.source();
        }
        std::process::exit(error.exit_code());
    }
}
