// Hardhat 2 compiles the same sources with the same solcjs build and the same settings as the
// Python build: both read contracts/compiler.json, so there is one source of truth and no
// compiler download (this machine has no network beyond the package registries).
const path = require("path");
const { subtask } = require("hardhat/config");
const { TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD } = require("hardhat/builtin-tasks/task-names");
const compiler = require("./contracts/compiler.json");

subtask(TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD, async (args, hre, runSuper) => {
  if (args.solcVersion !== compiler.version) {
    return runSuper();
  }
  const solc = require("solc");
  return {
    compilerPath: path.join(path.dirname(require.resolve("solc")), "soljson.js"),
    isSolcJs: true,
    version: compiler.version,
    longVersion: solc.version(),
  };
});

module.exports = {
  solidity: { version: compiler.version, settings: compiler.settings },
  paths: {
    sources: "./contracts",
    artifacts: "./build/hardhat/artifacts",
    cache: "./build/hardhat/cache",
    tests: "./tests/hardhat",
  },
  networks: {
    hardhat: { chainId: 31337 },
    localhost: { url: "http://127.0.0.1:8545" },
  },
};
