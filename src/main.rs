fn main() -> std::process::ExitCode {
    packwright::cli::main()
}
