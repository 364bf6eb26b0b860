import CLuaShim

/// Every Swift function the modules expose to the prelude, by the name the prelude uses
/// (`H.<name>`); the prelude assembles them into `require`-able module tables.
enum ModuleFunctions {
    static let all: [(String, sb_host_fn)] = [
        ("env_get", EnvModule.get),
        ("crypto_sha256", CryptoModule.sha256),
        ("crypto_sha512", CryptoModule.sha512),
        ("crypto_hmac_sha256", CryptoModule.hmacSHA256),
        ("crypto_hmac_sha512", CryptoModule.hmacSHA512),
        ("crypto_constant_time_equals", CryptoModule.constantTimeEquals),
        ("crypto_encrypt", CryptoModule.encrypt),
        ("crypto_decrypt", CryptoModule.decrypt),
        ("crypto_base64_encode", CryptoModule.base64Encode),
        ("crypto_base64_decode", CryptoModule.base64Decode),
        ("crypto_hex", CryptoModule.hex),
        ("crypto_random_bytes", CryptoModule.randomBytes),
        ("crypto_uuid", CryptoModule.uuid),
        ("file_read", FileModule.hostRead),
        ("file_write", FileModule.hostWrite),
        ("file_append", FileModule.hostAppend),
        ("file_exists", FileModule.hostExists),
        ("file_list", FileModule.hostList),
        ("file_stat", FileModule.hostStat),
        ("file_remove", FileModule.hostRemove),
        ("file_mkdir", FileModule.hostMkdir),
        ("http_request", HTTPModule.request),
        ("exec_run", ExecModule.run),
        ("yaml_decode", YAMLModule.decode),
        ("yaml_encode", YAMLModule.encode),
        ("template_render", TemplateModule.render),
        ("state_get", StateModule.get),
        ("state_set", StateModule.set),
        ("state_delete", StateModule.delete),
        ("state_incr", StateModule.incr),
        ("state_compare_and_set", StateModule.compareAndSet),
        ("state_keys", StateModule.keys),
        ("secret_get", SecretModule.get),
    ]
}
