fn main() {
    println!("holdline: under construction");
}
