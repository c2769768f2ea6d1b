using Ferry.Mapping;

namespace Ferry.Tests.Unit;

public class DeterministicUuidTests
{
    private static readonly Guid Dns = new("6ba7b810-9dad-11d1-80b4-00c04fd430c8");
    private static readonly Guid Url = new("6ba7b811-9dad-11d1-80b4-00c04fd430c8");

    // RFC 9562 appendix A.4, and vectors computed independently with Python's uuid.uuid5.
    [Theory]
    [InlineData("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "www.example.com", "2ed6657d-e927-568b-95e1-2665a8aea6a2")]
    [InlineData("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "python.org", "886313e1-3b8a-5372-9b90-0c9aee199e5d")]
    [InlineData("6ba7b811-9dad-11d1-80b4-00c04fd430c8", "ferry", "69d8a32c-d49c-5362-b377-2ef910b9dd5b")]
    [InlineData("6ba7b811-9dad-11d1-80b4-00c04fd430c8", "Zürich ✓", "5e51b9f4-dbb9-595c-9c63-2365f85a5422")]
    public void Create_matches_known_version_5_vectors(string ns, string name, string expected)
    {
        Assert.Equal(new Guid(expected), DeterministicUuid.Create(new Guid(ns), name));
    }

    [Fact]
    public void Rfc_9562_dns_vector()
    {
        Assert.Equal(new Guid("2ed6657d-e927-568b-95e1-2665a8aea6a2"), DeterministicUuid.Create(Dns, "www.example.com"));
    }

    [Fact]
    public void ForKey_is_stable_across_releases()
    {
        // uuid5(uuid5(NAMESPACE_URL, "ferry"), entity + "\x1f" + key), computed with Python. Changing this
        // would give every row of an existing target a new id.
        Assert.Equal(new Guid("c9c15d83-8eab-5d13-9ed0-252c01826baa"), DeterministicUuid.ForKey("e", "K1"));
        Assert.Equal(new Guid("ea0eb815-ca22-54f8-98a1-90bd7c2e404f"), DeterministicUuid.ForKey("foi_request", "FOI-2024-00001"));
        Assert.Equal(DeterministicUuid.Create(DeterministicUuid.Create(Url, "ferry"), "e\u001FK1"), DeterministicUuid.ForKey("e", "K1"));
    }

    [Fact]
    public void ForLegacyKey_is_stable_across_releases_and_threads()
    {
        // uuid5(uuid5(NAMESPACE_URL, "ferry"), entity + "\x1f" + tenant + "\x1f" + key), computed with Python.
        // Changing these would give every key-mapped row of an existing target a new id.
        var expected = new (string Entity, string Tenant, string Key, Guid Uuid)[]
        {
            ("student", "district-a", "42", new Guid("f1e009f5-1048-5ba9-848e-138c671b5267")),
            ("student", "", "42", new Guid("6a8432b7-03c3-5507-908d-21bf086c861c")),
            ("école", "Zürich", new string('k', 600), new Guid("870bba5e-2268-5a1a-b343-d9ea429ff65b")), // past the stack buffer
        };
        foreach (var (entity, tenant, key, uuid) in expected)
            Assert.Equal(uuid, DeterministicUuid.ForLegacyKey(entity, tenant, key));
        // Each thread hashes with its own digest: many at once give the same UUIDs as one alone.
        var keys = Enumerable.Range(0, 20_000).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        var alone = keys.Select(k => DeterministicUuid.ForLegacyKey("enrollment", "district-b", k)).ToArray();
        var together = new Guid[keys.Length];
        Parallel.For(0, keys.Length, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i => together[i] = DeterministicUuid.ForLegacyKey("enrollment", "district-b", keys[i]));
        Assert.Equal(alone, together);
        Assert.Equal(keys.Length, alone.Distinct().Count());
    }

    [Theory]
    [InlineData("e", "1")]
    [InlineData("foi_request", "FOI-2024-00001")]
    [InlineData("x", "")]
    [InlineData("tenant", "a\u001Fb\u001Fc")]
    [InlineData("ünïcode", "ключ")]
    public void Version_5_and_rfc_variant(string entity, string key)
    {
        var bytes = DeterministicUuid.ForKey(entity, key).ToByteArray(bigEndian: true);
        Assert.Equal(0x5, bytes[6] >> 4);
        Assert.Equal(0b10, bytes[8] >> 6);
        var text = DeterministicUuid.ForKey(entity, key).ToString("D");
        Assert.Equal('5', text[14]);
        Assert.Contains(text[19], "89ab");
    }

    [Fact]
    public void Same_input_gives_the_same_uuid()
    {
        var first = DeterministicUuid.ForKey("foi_request", "FOI-2024-00001");
        for (var i = 0; i < 3; i++)
            Assert.Equal(first, DeterministicUuid.ForKey("foi_request", string.Concat("FOI-2024-", "00001")));
        Assert.Equal(DeterministicUuid.Create(Dns, "a"), DeterministicUuid.Create(Dns, "a"));
    }

    [Fact]
    public void Different_entity_or_key_gives_a_different_uuid()
    {
        var ids = new[]
        {
            DeterministicUuid.ForKey("a", "1"),
            DeterministicUuid.ForKey("b", "1"),
            DeterministicUuid.ForKey("a", "2"),
            DeterministicUuid.ForKey("A", "1"),
            DeterministicUuid.ForKey("a", "1 "),
            // The separator keeps entity and key apart: "ab"+"c" is not "a"+"bc".
            DeterministicUuid.ForKey("ab", "c"),
            DeterministicUuid.ForKey("a", "bc"),
            DeterministicUuid.Create(Dns, "a\u001F1"),
        };
        Assert.Equal(ids.Length, ids.Distinct().Count());
    }

    [Fact]
    public void Namespace_matters()
    {
        Assert.NotEqual(DeterministicUuid.Create(Dns, "www.example.com"), DeterministicUuid.Create(Url, "www.example.com"));
    }

    [Fact]
    public void Long_names_hash_the_whole_name()
    {
        // Four million characters (12 MB of UTF-8 at most): more than any thread's stack, so the name
        // must not be buffered there. Python: uuid5(NAMESPACE_DNS, "x" * 4000000).
        var longName = new string('x', 4_000_000);
        Assert.Equal(new Guid("10c1dd75-6fbc-543d-b3ce-e28fc7a11110"), DeterministicUuid.Create(Dns, longName));
        Assert.NotEqual(DeterministicUuid.Create(Dns, longName), DeterministicUuid.Create(Dns, longName[..^1] + "y"));
    }
}
