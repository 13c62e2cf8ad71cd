//! `holdline-bench`: the load tool. Everything lives in [`holdline::bench`]; see
//! `bench/README.md` for usage.

fn main() -> std::process::ExitCode {
    holdline::bench::cli::main()
}
