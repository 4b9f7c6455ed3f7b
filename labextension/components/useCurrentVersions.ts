/**
 * Which version of each function the notebook holds now, to mark it "current".
 *
 * The sidebar parses the live notebook already and can pass what it found; without that,
 * the saved file is parsed here (so unsaved edits are not reflected until saved).
 */
import { useEffect, useState } from 'react';

import { api, storeChanged } from '../api';

/** function name -> full version hash */
export type VersionMap = { readonly [fn: string]: string };

export interface ICurrentVersions {
  versions: VersionMap;
  /** Taken from the saved file rather than the editor's content. */
  fromSavedFile: boolean;
}

export function useCurrentVersions(
  notebookPath: string | null,
  given: VersionMap | undefined
): ICurrentVersions {
  const [parsed, setParsed] = useState<VersionMap>({});
  const [generation, setGeneration] = useState(0);
  // Only whether the sidebar passes versions matters here, not the object's identity.
  const parseHere = given === undefined;

  useEffect(() => {
    if (!parseHere) {
      return;
    }
    const again = (): void => setGeneration(old => old + 1);
    storeChanged.connect(again);
    return () => {
      storeChanged.disconnect(again);
    };
  }, [parseHere]);

  useEffect(() => {
    if (!parseHere || notebookPath === null) {
      setParsed(old => (Object.keys(old).length === 0 ? old : {}));
      return;
    }
    let current = true;
    api
      .parse({ path: notebookPath })
      .then(plan => {
        if (current) {
          setParsed(Object.fromEntries(plan.functions.map(fn => [fn.name, fn.version])));
        }
      })
      // Not knowing which version is current only leaves the mark off; the list still shows.
      .catch(() => {
        if (current) {
          setParsed({});
        }
      });
    return () => {
      current = false;
    };
  }, [notebookPath, parseHere, generation]);

  return given !== undefined
    ? { versions: given, fromSavedFile: false }
    : { versions: parsed, fromSavedFile: true };
}
