using System.Text.Json;
using Ferry.Engine;
using Ferry.Targets;

namespace Ferry.Tests.Unit;

public class BatchJsonTests
{
    [Fact]
    public void Lines_and_keys_are_JSON_arrays_in_batch_order_that_read_back_exactly()
    {
        string?[] keys = ["FOI-2024-00001", null, "say \"hi\"", "back\\slash", "tab\there", "Renée Côté", "emoji 😀", "", "<&>'"];
        var rows = keys.Select((k, i) => new BatchRow(10 + i * 3, []) { Key = k }).ToList();
        var json = new BatchJson();

        var lines = JsonSerializer.Deserialize<long[]>(json.Lines(rows));
        var read = JsonSerializer.Deserialize<string?[]>(json.Keys(rows));

        Assert.Equal(rows.Select(r => r.Line), lines);
        Assert.Equal(keys, read);
        Assert.Equal("[]", System.Text.Encoding.UTF8.GetString(json.Keys([])));
    }
}
