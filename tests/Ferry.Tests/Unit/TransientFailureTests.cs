using System.Net.Sockets;
using Ferry.Targets;
using Ferry.Targets.Postgres;
using Npgsql;

namespace Ferry.Tests.Unit;

/// <summary>Which failures a run retries (resuming from its checkpoint) and which end it at once.</summary>
public class TransientFailureTests
{
    [Fact]
    public void A_connection_refused_when_the_run_starts_is_retried()
    {
        var refused = new TargetException("cannot connect to the PostgreSQL target 127.0.0.1:1/x",
            new NpgsqlException("Failed to connect", new SocketException((int)SocketError.ConnectionRefused)));

        Assert.True(TargetFactory.IsTransient(refused));
    }

    [Fact]
    public void A_connection_lost_mid_run_is_retried()
    {
        Assert.True(TargetFactory.IsTransient(new NpgsqlException("Exception while reading from stream", new IOException("reset"))));
    }

    [Fact]
    public void A_target_that_does_not_fit_the_manifest_is_not_retried()
    {
        Assert.False(TargetFactory.IsTransient(new TargetException("table foi_request has no column fee")));
        Assert.False(TargetFactory.IsTransient(new TargetException("bad", new InvalidOperationException("not a connection problem"))));
        Assert.False(TargetFactory.IsTransient(new IOException("a SQLite file that cannot be written")));
    }
}
