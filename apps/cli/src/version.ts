/** Version printed by `wfstate --version` and `doctor`. */
export const CLI_VERSION = '0.1.0';
