using Ferry.Diagnostics;
using Ferry.Manifest;

namespace Ferry.Tests.Unit;

/// <summary>
/// The masker's registry is process-wide, so every secret here is unique to its test: it can
/// neither mask another test's text nor be masked by another test's secret.
/// </summary>
public class SecretMaskerTests
{
    private static string Unique(string prefix) => prefix + Guid.NewGuid().ToString("N");

    [Fact]
    public void Registered_secrets_are_replaced_everywhere_in_a_text()
    {
        var secret = Unique("s3cr3t-");
        Assert.Equal($"a {secret} b", SecretMasker.Scrub($"a {secret} b"));   // not yet registered

        SecretMasker.Register(secret);

        Assert.Equal("a *** b ***", SecretMasker.Scrub($"a {secret} b {secret}"));
        Assert.Equal("x***y", SecretMasker.Scrub($"x{secret}y"));
        Assert.Equal("nothing to hide", SecretMasker.Scrub("nothing to hide"));
    }

    [Fact]
    public void Masking_is_case_sensitive()
    {
        var secret = Unique("CaseSecret-");
        SecretMasker.Register(secret);
        Assert.Equal(secret.ToUpperInvariant(), SecretMasker.Scrub(secret.ToUpperInvariant()));
    }

    [Fact]
    public void One_and_two_character_values_are_not_registered()
    {
        // Two characters picked to be unlikely in other tests' text; still, they would mask far too much.
        SecretMasker.Register("Q~");
        SecretMasker.Register("");
        Assert.Equal("aQ~b", SecretMasker.Scrub("aQ~b"));
    }

    [Fact]
    public void Null_and_empty_text()
    {
        Assert.Equal("", SecretMasker.Scrub(null));
        Assert.Equal("", SecretMasker.Scrub(""));
    }

    [Theory]
    [InlineData("Host=db;Username=u;Password=hunter2;Port=5432", "Host=db;Username=u;Password=***;Port=5432")]
    [InlineData("Data Source=t.db;password=abc", "Data Source=t.db;password=***")]
    [InlineData("Server=s;PWD = 'a b;c';Database=d", "Server=s;PWD = ***;Database=d")]
    [InlineData("Server=s;Pwd=\"q;q\";Database=d", "Server=s;Pwd=***;Database=d")]
    [InlineData("url?token=abc123 and more", "url?token=*** and more")]
    [InlineData("API_KEY=k1;apikey=k2;Api-Key=k3", "API_KEY=***;apikey=***;Api-Key=***")]
    [InlineData("Client Secret=xyz", "Client Secret=***")]
    [InlineData("Password=", "Password=***")]
    [InlineData("no pairs here; user=bob", "no pairs here; user=bob")]
    public void Password_pairs_are_masked_without_registration(string text, string expected)
    {
        Assert.Equal(expected, SecretMasker.Scrub(text));
    }

    [Fact]
    public void A_secret_containing_another_secret_is_masked_whole()
    {
        // A user name that prefixes the password must not leave the password's tail visible, whatever
        // order the registry happens to keep them in. Twelve pairs make a lucky order vanishingly rare.
        for (var i = 0; i < 12; i++)
        {
            var user = Unique("user");
            var password = user + "-tail" + i;
            SecretMasker.Register(user);
            SecretMasker.Register(password);

            Assert.Equal("login *** with ***", SecretMasker.Scrub($"login {user} with {password}"));
        }
    }

    [Fact]
    public void SecretString_masks_its_own_secrets_even_short_ones_and_reveals_on_request()
    {
        var token = Unique("tok");
        var value = new SecretString($"https://api.example/?k={token}&u=ab", [token, "ab"]);

        Assert.Equal("https://api.example/?k=***&u=***", value.ToString());
        Assert.Equal($"https://api.example/?k={token}&u=ab", value.Reveal());
        Assert.Equal([token, "ab"], value.Secrets);
        // Interpolation goes through ToString, so the secret cannot slip into a message that way.
        Assert.DoesNotContain(token, $"connecting to {value}", StringComparison.Ordinal);
    }

    [Fact]
    public void SecretString_masks_a_longer_secret_before_a_shorter_one_inside_it()
    {
        var user = Unique("admin");
        var value = new SecretString($"User={user};Key={user}99", [user, user + "99"]);
        Assert.Equal("User=***;Key=***", value.ToString());
    }

    [Fact]
    public void SecretString_also_masks_password_pairs()
    {
        Assert.Equal("Host=h;Password=***", new SecretString("Host=h;Password=literal", []).ToString());
    }

    [Fact]
    public void ManifestError_text_is_scrubbed()
    {
        var secret = Unique("err");
        SecretMasker.Register(secret);
        var error = new ManifestError("/x/ferry.yaml", 3, 5, $"cannot use '{secret}' with Password=pw1");
        Assert.Equal("/x/ferry.yaml:3:5: cannot use '***' with Password=***", error.ToString());
        Assert.Equal("/x/ferry.yaml: cannot use '***' with Password=***", (error with { Line = 0 }).ToString());
    }
}
