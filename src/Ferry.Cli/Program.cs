using Ferry.Cli;

// A database's reply resumes the task that waits for it on the thread that read it, instead of being
// handed to the thread pool first: a batch waits for the server four times, and on two busy cores
// each hand-over was another thread to wake. A 2,000,000-row first load spent 2.3 s of its loading
// task landing batches, 0.8 s this way. .NET reads the setting when the first socket opens, so it
// is set here, before anything connects; set in the environment, it is left as it is.
const string InlineCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";
if (Environment.GetEnvironmentVariable(InlineCompletions) is null)
    Environment.SetEnvironmentVariable(InlineCompletions, "1");

return await FerryCommandLine.RunAsync(args, CliConsole.FromProcess(), ownsProcess: true);
