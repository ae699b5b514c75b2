mod dangerous;
mod ecdsa;
mod eddsa;
mod header;
mod rsa;
