fn main() {
    println!("chattu: being written");
}
