//! `gale`: the command-line tool (`gale run <topology>`, `gale list`); see
//! [`gale::cli`].

fn main() -> std::process::ExitCode {
    gale::cli::main()
}
