/**
 * A collapsible section of the sidebar: a header that folds its body away.
 */
import { caretDownIcon, caretRightIcon } from '@jupyterlab/ui-components';
import React, { useEffect, useState } from 'react';

export interface ISectionProps {
  title: string;
  testId: string;
  /** Shown after the title, e.g. a count. */
  detail?: string;
  initiallyOpen?: boolean;
  /** Each new value opens the section (a deploy asks for its deployment to be shown). */
  openRequest?: number;
  children: React.ReactNode;
}

export function Section(props: ISectionProps): React.ReactElement {
  const [open, setOpen] = useState(props.initiallyOpen ?? true);
  const { openRequest } = props;
  useEffect(() => {
    if (openRequest) {
      setOpen(true);
    }
  }, [openRequest]);
  const Caret = open ? caretDownIcon : caretRightIcon;
  return (
    <section
      className={`jp-mlops-section${open ? '' : ' jp-mod-collapsed'}`}
      data-testid={props.testId}
    >
      <button
        type="button"
        className="jp-mlops-section-header"
        aria-expanded={open}
        onClick={() => setOpen(!open)}
      >
        <Caret.react tag="span" className="jp-mlops-section-caret" />
        <span className="jp-mlops-section-title">{props.title}</span>
        {props.detail ? <span className="jp-mlops-section-detail">{props.detail}</span> : null}
      </button>
      {open ? <div className="jp-mlops-section-body">{props.children}</div> : null}
    </section>
  );
}
