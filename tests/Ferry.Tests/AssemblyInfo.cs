// Each test class runs in parallel with the others; CliRunner serialises the working-folder change.
[assembly: CollectionBehavior(MaxParallelThreads = 2)]
