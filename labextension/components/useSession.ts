/**
 * Re-renders a component whenever a NotebookSession reports a change.
 */
import { useEffect, useReducer } from 'react';

import { NotebookSession } from '../session';

export function useSession(session: NotebookSession | null): void {
  const [, bump] = useReducer((count: number) => count + 1, 0);
  useEffect(() => {
    if (session === null) {
      return;
    }
    const onChanged = (): void => bump();
    session.changed.connect(onChanged);
    return () => {
      session.changed.disconnect(onChanged);
    };
  }, [session]);
}
