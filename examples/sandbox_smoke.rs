fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = lab::sandbox::Sandbox::default().run(&args, &std::env::current_dir().unwrap()).unwrap();
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    eprintln!("status {} in {:?}", out.status, out.elapsed);
}
